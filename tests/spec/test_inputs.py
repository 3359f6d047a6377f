"""One declaration per input: the component's checks come from the same objects as the settings'."""

from kedge.choices import RunStrategy
from kedge.spec.inputs import choice_input, rules_of
from kedge.spec.rules import whole_number


def test_a_choice_input_allows_exactly_the_choices_values():
    spec_input = choice_input("run_strategy", RunStrategy, "Always", "doc", setting="vmRunStrategy", device_key="runStrategy")
    assert spec_input.allowed == RunStrategy.allowed() and spec_input.choices is RunStrategy
    assert spec_input.rule("Always") is None and spec_input.rule(RunStrategy.HALTED) is None
    assert spec_input.rule("always") == RunStrategy.allowed()


def test_rules_of_maps_each_argument_to_its_inputs_own_rule():
    cores = choice_input("a", RunStrategy, "Always", "doc")
    rule = whole_number(1, 2)
    from kedge.spec.inputs import Input

    count = Input("count", 1, "doc", rule, "1-2")
    assert rules_of((cores, count)) == {"a": cores.rule, "count": rule}
