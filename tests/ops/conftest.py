import pytest
from ops_backends import BACKENDS


@pytest.fixture(params=BACKENDS, ids=repr)
def backend(request):
    return request.param
