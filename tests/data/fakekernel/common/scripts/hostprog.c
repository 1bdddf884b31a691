/* A host program, built with $(HOSTCC) like kbuild's scripts/ helpers. */
int main(void) { return 0; }
