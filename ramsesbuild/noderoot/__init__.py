"""Node roots: one shared base root per node class and a small per-node layer per node.

See docs/node-roots.md. :mod:`.spec` holds the inputs; :mod:`.debian` and :mod:`.klibc` build
base roots, :mod:`.finish` makes a tree a node root, :mod:`.layer` renders and resets per-node
layers, :mod:`.exports` writes the server's exports.
"""
