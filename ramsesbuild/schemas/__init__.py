"""The settings files, declared: one module per file (ramses.py, nodes.py, families.py,
wrappers.py), each a tree of :class:`ramsesbuild.schema.Section` classes ending in a
:class:`ramsesbuild.schema.FileSchema` that :mod:`ramsesbuild.docgen` turns into
docs/reference/<file>.md.

Adding a key is one place plus its use:

1. Declare it in its section: ``name = Key(Kind(...), "one-line doc", default, since="0.1")``
   (kinds in :mod:`ramsesbuild.kinds`; a closed vocabulary is a StrEnum in
   :mod:`ramsesbuild.vocabulary` read with ``Choice(TheEnum)``; a rule on the value alone is
   ``check=``, a rule between keys stays in the reader).
2. If another table may override it, add it to that section's ``INHERITS = Inherit(Parent,
   (...))`` and read it with ``Section.layers(own, parent).get(Parent.name)``.
3. Read it with ``table.get(Section.name)`` into a frozen dataclass field of the same type
   (mypy checks that), and run ``python3 -m ramsesbuild.docgen`` to regenerate the reference.
"""
