"""The entry point's start-up: the collector is off while a command loads, and back on, past what it loaded."""

from __future__ import annotations

import gc

from streamapp.launch import loading


def test_loading_turns_the_collector_off_and_freezes_what_it_loaded() -> None:
    assert gc.isenabled()
    frozen_before = gc.get_freeze_count()
    try:
        with loading():
            assert not gc.isenabled()
            loaded = [[n] for n in range(1000)]  # tracked containers that stay alive, as imported modules' do
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen_before + len(loaded)
    finally:
        gc.unfreeze()


def test_loading_leaves_a_collector_that_was_off_off() -> None:
    gc.disable()
    try:
        with loading():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
