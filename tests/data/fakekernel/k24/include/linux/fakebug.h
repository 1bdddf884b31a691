/* Like 2.4's BUG() with CONFIG_DEBUG_BUGVERBOSE: __FILE__ in a header included by absolute path
 * (-I$(TOPDIR)/include) names the build directory unless the compiler maps it away. */
static inline const char *fake_bug_where(void) { return __FILE__; }
