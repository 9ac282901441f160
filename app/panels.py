"""The feature panels that dock into the main window.

Each feature (reenactment, the expression editor, ...) owns its widgets and its
controller and installs itself into a bare ``MainWindow``; this module is the one
place that lists them, so the app, its screenshot tools and its tests build the
same window.
"""
from __future__ import annotations


def install_panels(win) -> dict:
    """Install every feature panel into ``win`` (an ``app.main_window.MainWindow``).

    Returns the controllers by name, e.g. ``{"reenact": ReenactController}``.
    """
    from app.reenact_controller import install_reenact_panel

    controllers = {"reenact": install_reenact_panel(win)}
    return controllers
