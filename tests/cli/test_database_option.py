"""`--db` (and $SWARMDECK_DB) take a path or a URL of a backend the store has; any other URL is refused by
name, and nothing is created for it (it is never taken for a file called `mysql:`)."""

from __future__ import annotations

import pytest

from support import invoke


@pytest.mark.parametrize("url", ["mongodb://agent@db.example/swarm", "mysql://x/y"])
def test_a_url_of_a_backend_the_store_lacks_is_refused_and_creates_nothing(tmp_path, url):
    for args, env in ((("--db", url, "init"), None), (("task", "list"), {"SWARMDECK_DB": url})):
        ran = invoke(*args, env=env, cwd=tmp_path)
        assert ran.returncode == 2
        assert f"unsupported database URL scheme '{url.split(':')[0]}'" in ran.stderr
        assert list(tmp_path.iterdir()) == []


def test_a_sqlite_url_is_the_file_it_names_and_a_folder_is_refused(tmp_path):
    assert invoke("--db", "sqlite:///swarm.db", "init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "swarm.db").is_file()
    listed = invoke("--db", f"sqlite:///{tmp_path / 'swarm.db'}", "--json", "task", "list")
    assert listed.returncode == 0, listed.stderr
    (tmp_path / "folder").mkdir()
    refused = invoke("--db", str(tmp_path / "folder"), "task", "list")
    assert refused.returncode == 2 and "is a directory, not a database file" in refused.stderr


def test_a_path_the_file_system_cannot_hold_is_one_clear_line(tmp_path):
    ran = invoke("--db", "a" * 5000 + ".db", "task", "list", cwd=tmp_path)
    assert ran.returncode == 2 and "as a database: File name too long" in ran.stderr
    assert len(ran.stderr) < 400 and list(tmp_path.iterdir()) == []
