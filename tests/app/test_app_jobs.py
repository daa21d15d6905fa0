"""CancelToken and helpers."""
import threading

import pytest

from app.core.jobs import Cancelled, CancelToken, check, report


def test_cancel_token_from_another_thread():
    tok = CancelToken()
    tok.check()  # not cancelled: no exception
    t = threading.Thread(target=tok.cancel)
    t.start()
    t.join()
    assert tok.cancelled
    with pytest.raises(Cancelled):
        tok.check()
    with pytest.raises(Cancelled):
        check(tok)


def test_none_helpers_are_noops_and_report_forwards():
    check(None)
    report(None, 1, 2, "x")
    seen = []
    report(lambda *a: seen.append(a), 3, 4, "msg")
    assert seen == [(3, 4, "msg")]
