"""The report room: an assessment as one typed ``hedui.v1.Report``, and its renderings.

``build`` (assessment → report, its JSON and digest) · ``text`` (the terminal) · ``html`` and
``templates/`` (the printable Chinese document) · ``labels_zh`` (every Chinese label, once).
"""
