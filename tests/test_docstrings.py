"""The examples in the public docstrings run and print what they say."""
import doctest

import pytest

import xpcluster._dispatch
import xpcluster.vq


@pytest.mark.parametrize("module", [xpcluster.vq, xpcluster._dispatch], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
