"""CSV cells shared by every door (kernel.csvcells): OWASP's rule out, its undoing on every CSV upload."""

from __future__ import annotations

import pytest

from kernel.csvcells import csv_lines, neutralise, unneutralise
from pipeline.models import StagedRow
from tests.factories import ImportDefinitionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "cell, written",
    [
        ("+442079460958", "'+442079460958"),  # a phone number: a spreadsheet computes +44...
        ("-5.25", "'-5.25"),
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("5.25", "5.25"),
        ("'=1", "'=1"),  # starts with an apostrophe: not a formula start
        ("", ""),
        (None, ""),
        (12, "12"),
    ],
)
def test_every_cell_starting_with_a_formula_character_gets_an_apostrophe(cell, written):
    assert neutralise(cell) == written


@pytest.mark.parametrize(
    "cell, read",
    [
        ("'+442079460958", "+442079460958"),
        ("'-5.25", "-5.25"),
        ("'=1+1", "=1+1"),
        ("'@x", "@x"),
        ("'\tx", "\tx"),
        ("'\rx", "\rx"),
        ("'ok", "'ok"),  # any other apostrophe stays
        ("'", "'"),
        ("''=", "''="),
        ("=1", "=1"),
    ],
)
def test_an_upload_reads_a_neutralised_cell_back(cell, read):
    assert unneutralise(cell) == read
    assert unneutralise(neutralise(read)) == read


def test_csv_lines_neutralise_header_and_rows():
    lines = list(csv_lines(["=h", "ok"], [("+44 20", "-1"), (None, "x")]))
    assert lines == ["'=h,ok\r\n", "'+44 20,'-1\r\n", ",x\r\n"]


def test_an_eloqua_csv_upload_reads_neutralised_cells_back(api):
    # given: a CSV as a result file writes it (a phone, a negative amount, a formula, kept apostrophes)
    definition = ImportDefinitionFactory(site=api.site)
    text = "OpportunityID,OpportunityName,Amount,Stage\r\n'=cmd,'+44 20 7946 0958,'-5.25,'@stage\r\n'ok,'',plain,'\r\n"
    # when
    response = api.generic(
        "POST", f"/api/bulk/2.0/opportunities/imports/{definition.pk}/data", text.encode(), content_type="text/csv"
    )
    # then: the apostrophe before a formula character is dropped, every other cell is as sent
    assert response.status_code == 204, response.content
    rows = list(StagedRow.objects.filter(definition=definition).order_by("id").values_list("data", flat=True))
    assert rows == [
        {"OpportunityID": "=cmd", "OpportunityName": "+44 20 7946 0958", "Amount": "-5.25", "Stage": "@stage"},
        {"OpportunityID": "'ok", "OpportunityName": "''", "Amount": "plain", "Stage": "'"},
    ]
