"""The menu bar by name: every top-level menu and its sections exist from the start, in
their final order, and each part of the app adds its actions to a named section.

    menus = MenuBar(window.menuBar())
    menus.add("file", "save", act_save, act_save_as)
    menus.add("edit", "keys", act_set_key)
    menus.menu("view")                  # the QMenu itself

Nothing is placed by position or found by its text, so a new panel cannot push Help out
of the last place or split a section. Empty sections leave no trace (QMenu collapses
separators around them); an empty menu is hidden.
"""
from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QMenuBar

#: menu name -> (title, sections in order)
LAYOUT: dict[str, tuple[str, tuple[str, ...]]] = {
    "file": ("&File", ("project", "open", "recent", "save", "export", "quit")),
    "edit": ("&Edit", ("undo", "keys", "reconstruct")),
    "view": ("&View", ("zoom", "landmarks", "compare", "renderer", "overlays", "qa", "viewport", "panels", "theme")),
    "playback": ("&Playback", ("transport", "options")),
    "track": ("&Track", ("track", "reconstruct", "cancel")),
    "reenact": ("&Reenact", ("panel", "live", "output")),
    "help": ("&Help", ("about",)),
}


class MenuBar:
    """The window's menus (see the module docstring)."""

    def __init__(self, bar: QMenuBar, layout: dict = LAYOUT):
        self.bar = bar
        self._menus: dict[str, QMenu] = {}
        self._ends: dict[tuple[str, str], QAction] = {}  # (menu, section) -> separator after it
        for name, (title, sections) in layout.items():
            m = bar.addMenu(title)
            m.setObjectName(f"menu_{name}")
            m.setSeparatorsCollapsible(True)
            self._menus[name] = m
            for sec in sections:
                self._ends[(name, sec)] = m.addSeparator()
            m.menuAction().setVisible(False)

    def menu(self, name: str) -> QMenu:
        return self._menus[name]

    def add(self, menu: str, section: str, *items) -> None:
        """Append QActions or QMenus to ``section`` of ``menu`` (KeyError for unknown names)."""
        m = self._menus[menu]
        end = self._ends[(menu, section)]
        for item in items:
            if isinstance(item, QMenu):
                m.insertMenu(end, item)
            else:
                m.insertAction(end, item)
        m.menuAction().setVisible(True)

    def add_submenu(self, menu: str, section: str, title: str) -> QMenu:
        """A new submenu in ``section`` of ``menu``."""
        sub = QMenu(title, self._menus[menu])
        self.add(menu, section, sub)
        return sub
