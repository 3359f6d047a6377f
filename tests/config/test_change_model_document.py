"""docs/change-model.md is generated from the declarations: a change there fails here until regenerated."""

from pathlib import Path

from kedge.config import change_model

ROOT = Path(__file__).resolve().parents[2]


def test_change_model_document_is_current():
    assert change_model.main([], ROOT) == 0, "run: python -m kedge.config.change_model --write"


def test_every_row_is_in_the_document():
    text = (ROOT / change_model.DOCUMENT).read_text()
    for row in change_model.rows():
        for change in row.changes:
            assert change.effect.replace("|", "\\|") in text, row.key
