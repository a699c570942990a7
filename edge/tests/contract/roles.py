"""Schemathesis hooks for the contract test (edge/tests/contract.rs): every request carries the
API key of a role drawn for it, so one run meets the API as each role does, 401 and 403 included.

WMS_CONTRACT_KEYS holds the keys, separated by white space; a key may appear more than once to be
drawn more often. Hypothesis seeds `random` for each test case, so a run is reproducible from its
seed.
"""

import os
import random

import schemathesis

KEYS = os.environ["WMS_CONTRACT_KEYS"].split()


@schemathesis.auth()
class EveryRole:
    def get(self, case, context):
        return KEYS

    def set(self, case, keys, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = "Bearer " + random.choice(keys)
