"""The reader every settings section uses: typed reads that collect problems, and sealed secrets."""

from kedge.config.reader import Reader, read_input
from kedge.config.stack_file import StackFileSource
from kedge.spec import vm as vm_spec
from tests.config.test_settings import DictSource


def test_read_input_takes_numbers_as_pulumi_hands_them_over_and_reports_with_the_inputs_rule():
    r = Reader(DictSource({}))
    assert read_input(r, vm_spec.CPU_CORES, "8", "k") == 8 and r.problems == []
    assert read_input(r, vm_spec.CPU_CORES, "99", "k") == vm_spec.CPU_CORES.default
    assert r.problems == ["k: 99 is not allowed; allowed: a whole number from 1 to 64"]


def test_read_input_gives_choices_as_members_and_the_default_after_a_bad_one():
    r = Reader(DictSource({}))
    assert read_input(r, vm_spec.RUN_STRATEGY, "Halted", "k") is vm_spec.RUN_STRATEGY.choices("Halted")
    assert read_input(r, vm_spec.RUN_STRATEGY, "halted", "k") is vm_spec.RUN_STRATEGY.choices("Always")
    assert len(r.problems) == 1


def test_a_sealed_secret_counts_as_set_but_has_no_content_to_check():
    source = StackFileSource({"kedge:siteRootCa": {"secure": "v1:AAAA"}, "kedge:hubSku": "S1"})
    r = Reader(source)
    assert source.is_secret("siteRootCa") and source.get("siteRootCa") and r.secret_content("siteRootCa") is None
    assert Reader(DictSource({"k": "PEM"}, ("k",))).secret_content("k") == "PEM"
