"""The plans' record layouts in Python are the C headers' enums.

ccnn.models.inference / inference_graph (plan.h) and ccnn.models.train_plan /
train_graph (plan_train.h) write int64 records whose op codes and field
indices the C plans read.  ccnn._plan exports the headers' enums as the C
compiler numbers them (a cdef extern of each member) and the record builders
import them from there; this test reads every enum of the two headers -- the
copies the package installs under ccnn.get_include(), so it also runs against
a wheel, without the source tree -- and checks every export and each value
the Python side names.
"""
import os
import re

import pytest

import ccnn
from ccnn.models import inference, inference_graph, train_graph, train_plan


def header_enums(name):
    """{NAME: value} of every enum in ccnn/<name>, implicit values counted
    from the previous member as C does."""
    with open(os.path.join(ccnn.get_include(), "ccnn", name)) as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    out = {}
    for block in re.findall(r"enum\s*\{([^}]*)\}", text):
        nxt = 0
        for item in block.split(","):
            item = item.strip()
            if not item:
                continue
            m = re.fullmatch(r"(\w+)(?:\s*=\s*(-?\d+))?", item)
            assert m, f"{name}: cannot read enum member {item!r}"
            nxt = int(m.group(2)) if m.group(2) is not None else nxt
            out[m.group(1)] = nxt
            nxt += 1
    return out


def test_header_reader_counts_implicit_members():
    """The reader follows C's rule on the header itself: CCNN_TF_OP is 0 and
    the members after it count up by one (CCNN_TF_SEED is the 14th)."""
    e = header_enums("plan_train.h")
    assert e["CCNN_TF_OP"] == 0 and e["CCNN_TF_FLAG"] == 1 and e["CCNN_TF_SEED"] == 13
    assert e["CCNN_TRAIN_FIELDS"] == 32 and e["CCNN_TP_BN_RELU"] == 16


# (C prefix, Python prefix, Python modules): every C name with the prefix
# whose Python twin exists in one of the modules must be equal to it.
INFERENCE = (inference, inference_graph)
TRAINING = (train_plan, train_graph)
MAPS = {
    "plan.h": [("CCNN_PLAN_FIELDS", "FIELDS", INFERENCE), ("CCNN_PLAN_REALS", "REALS", INFERENCE),
               ("CCNN_PF_", "F_", INFERENCE), ("CCNN_PLAN_", "", INFERENCE)],
    "plan_train.h": [("CCNN_TRAIN_FIELDS", "FIELDS", TRAINING),
                     ("CCNN_TRAIN_REALS", "REALS", TRAINING),
                     ("CCNN_TF_", "F_", TRAINING), ("CCNN_TR_", "R_", TRAINING),
                     ("CCNN_TP_", "", TRAINING), ("CCNN_TO_", "TO_", TRAINING)],
}
# C names with no Python twin by design: the optimizer kinds come from the
# binding (ccnn._optim.PLAN_*, tested in test_train_plan_optim.py), whose
# names clash with the record's TO_ fields' prefix
NO_TWIN = {"CCNN_TO_ADAM", "CCNN_TO_SGD", "CCNN_TO_RMSPROP", "CCNN_TO_ADAGRAD",
           "CCNN_TO_ADADELTA", "CCNN_TO_ADAMAX"}


def twin(cname, rules):
    for prefix, py, mods in rules:
        if cname == prefix or (prefix.endswith("_") and cname.startswith(prefix)):
            pyname = py if cname == prefix else py + cname[len(prefix):]
            return pyname, mods
    return None, ()


@pytest.mark.parametrize("header", sorted(MAPS))
def test_every_python_twin_equals_the_header(header):
    enums = header_enums(header)
    checked = 0
    for cname, value in enums.items():
        if cname in NO_TWIN:
            continue
        pyname, mods = twin(cname, MAPS[header])
        if pyname is None:
            continue
        found = [m for m in mods if isinstance(getattr(m, pyname, None), int)]
        for m in found:
            assert getattr(m, pyname) == value, f"{m.__name__}.{pyname} != {header}'s {cname}"
        checked += len(found)
    # every op code the Python side builds records with has its twin checked
    assert checked >= (25 if header == "plan.h" else 50), checked


@pytest.mark.parametrize("header,mods,ops", [
    ("plan.h", INFERENCE, "CCNN_PLAN_"), ("plan_train.h", TRAINING, "CCNN_TP_")])
def test_every_op_code_has_a_python_name(header, mods, ops):
    """Each op the C plan knows is named on the Python side (a new op added to
    the header and written into records under a hand-typed number would fail
    here)."""
    enums = header_enums(header)
    skip = ("CCNN_PLAN_ACT_", "CCNN_PLAN_FIELDS", "CCNN_PLAN_REALS")
    for cname, value in enums.items():
        if not cname.startswith(ops) or cname.startswith(skip):
            continue
        pyname = cname[len(ops):]
        assert any(getattr(m, pyname, None) == value for m in mods), (cname, pyname)


# the optimizer kinds are ccnn._optim's (PLAN_*), not ccnn._plan's
EXPORTED_ELSEWHERE = NO_TWIN


@pytest.mark.parametrize("header", sorted(MAPS))
def test_plan_module_exports_every_enum_member_with_the_header_value(header):
    """ccnn._plan has each member of the header's enums under its C name
    without CCNN_, with the header's value."""
    from ccnn import _plan
    enums = header_enums(header)
    assert len(enums) >= 50
    for cname, value in enums.items():
        if cname in EXPORTED_ELSEWHERE:
            continue
        got = getattr(_plan, cname[len("CCNN_"):], None)
        assert type(got) is int and got == value, (header, cname, got, value)
