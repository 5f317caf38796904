"""`reconciler lab`: one running lab per folder (a second would overwrite its config and secrets)."""

from __future__ import annotations

import os

import pytest

from reconciler.lab.runner import _claim
from reconciler.runs import UserError


def test_a_second_lab_in_the_same_folder_is_refused_and_names_the_first(tmp_path):
    first = _claim(tmp_path / "lab")
    try:
        with pytest.raises(UserError, match=rf"already running in .* \(pid {os.getpid()}\)"):
            _claim(tmp_path / "lab")
        other = _claim(tmp_path / "other")  # another folder is another lab
        os.close(other)
    finally:
        os.close(first)
    os.close(_claim(tmp_path / "lab"))  # released: free again
