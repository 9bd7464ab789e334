import json

import pytest

from paperlib import claims


def test_record_collect_write(tmp_path):
    claims.record(tmp_path, "02_x", "b", "3.1", "Fig. 3", "nearer Clifford", {"w": 0.1}, None)
    claims.record(tmp_path, "01_x", "a", "2", "Methods", 102400, 102400, True)
    claims.record(tmp_path, "01_x", "a", "2", "Methods", 102400, 5, False)  # replaced, not added
    entries = claims.collect(tmp_path)
    assert [e["claim"] for e in entries] == ["a", "b"] and entries[0]["reproduced"] is False
    js, md = claims.write(tmp_path, entries)
    assert json.loads(js.read_text()) == entries
    assert set(entries[0]) == set(claims.FIELDS)
    assert "| a | 2 | Methods | 102400 | 5 | **no** |" in md.read_text()
    with pytest.raises(ValueError, match="reproduced"):
        claims.record(tmp_path, "01_x", "c", "2", "x", 1, 1, "yes")
