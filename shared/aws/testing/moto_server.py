"""moto's server for Pulso's tests: `python3 shared/aws/testing/moto_server.py -H 127.0.0.1 -p PORT`.

Plain `python3 -m moto.server` keeps every model instance it ever creates (for its dashboard,
/moto-api/data.json), and its TransactWriteItems deep-copies the whole table for each item of a
transaction. Over the DynamoDB store contract (hundreds of transactional writes into tables of
hundreds of items) that keeps millions of item copies alive: the server grew past 16 GB. This
launcher leaves DynamoDB items untracked (they are garbage-collected as usual); everything else -
notably the SES messages the tests read back from data.json - stays visible. Same arguments as
`moto.server`.
"""

import sys

import moto.core.common_models as common


def _new(cls, *args, **kwargs):
    instance = object.__new__(cls)
    if not cls.__module__.startswith("moto.dynamodb"):
        cls.instances_tracked.append(instance)
    return instance


common.BaseModel.__new__ = _new

from moto.server import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
