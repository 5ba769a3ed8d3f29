"""What the launch code keeps on the Flask app: settings, session store, signing key."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from smartapp.config import AppConfig
from smartapp.launch.keys import AppKey
from smartapp.launch.session_store import SessionStore

EXTENSION = "smartapp.launch"


@dataclass(frozen=True)
class LaunchState:
    config: AppConfig
    store: SessionStore
    app_key: AppKey | None


def init_launch_state(app: Flask, state: LaunchState) -> None:
    app.extensions[EXTENSION] = state


def launch_state() -> LaunchState:
    """The state of the current app (inside a request or app context)."""
    state: LaunchState = current_app.extensions[EXTENSION]
    return state
