"""Admin views beyond Django's model pages: the import wizard (upload, dry run, confirm), a sync's
cancel/retry buttons, progress for the bars, and the CSV downloads. Each is registered by a model
admin's `get_urls` (so it sits under /admin/ behind the admin's login) and checks its permission."""

from __future__ import annotations

import json
import logging

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from doors.admin.forms import ImportUploadForm, mapping_field
from doors.admin.mapping import mappable_fields, suggest_identifier, suggest_mappings
from doors.admin.selectors import batch_jobs_for, import_draft_get, sync_progress, sync_reject_rows, syncs_for
from doors.admin.services import import_draft_confirm, import_draft_create, import_draft_discard
from doors.batch.selectors import batch_result_file
from kernel.csvcells import csv_lines
from kernel.exceptions import BulkError, ValidationFailed
from pipeline.catalog import entity_spec
from pipeline.dryrun import DRY_RUN_ROWS, sync_dry_run
from pipeline.models import ImportDefinition, ImportRule, StagedRow
from pipeline.selectors import in_flight_rows
from pipeline.services import sync_cancel, sync_retry
from pipeline.services.imports import import_definition_create

logger = logging.getLogger(__name__)

IMPORT_PERMISSIONS = ("syncs.add_sync", "bulkapi.add_stagedupload")


def _require(request, *perms: str) -> None:
    if not request.user.has_perms(perms):
        raise PermissionDenied


def _context(request, title: str, **extra) -> dict:
    return {**admin.site.each_context(request), "title": title, **extra}


def _failures_text(exc: BulkError) -> list[str]:
    return [
        f"{f.field}: {f.constraint}" + (f" ({f.value})" if f.value not in (None, "") else "") for f in exc.failures
    ] or [exc.message]


# ------------------------------------------------------------------------------------------ syncs


def _sync(request, sync_id: int):
    sync = syncs_for(request.user).filter(pk=sync_id).first()
    if sync is None:
        raise Http404
    return sync


def sync_progress_json(request):
    """Progress of the syncs named in `?ids=1,2` (of the user's site): what the bars poll."""
    _require(request, "syncs.view_sync")
    ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.strip().isdigit() and len(i.strip()) < 19]
    now = timezone.now()
    syncs = list(syncs_for(request.user).filter(pk__in=ids[:100]))
    flight = in_flight_rows(s.pk for s in syncs if s.status == "active")
    return JsonResponse({"syncs": [sync_progress(s, now=now, in_flight=flight.get(s.pk, 0)).as_json() for s in syncs]})


def sync_rejects_csv(request, sync_id: int):
    """The sync's rejects as CSV, streamed in record order: the row's values under its own column
    names, then what was wrong. Cells a spreadsheet would run as a formula are neutralised."""
    _require(request, "syncs.view_sync", "syncs.view_reject")
    sync = _sync(request, sync_id)
    keys = [k for k, _ in (sync.definition.fields if sync.definition is not None else [])]
    if not keys:
        first = next(iter(sync_reject_rows(sync=sync)), None)
        keys = list(_json(first[4]).keys()) if first else []
    header = ["RecordIndex", "StatusCode", "Message", "InvalidFields", *keys]

    def rows():
        for rec, code, message, invalid, values in sync_reject_rows(sync=sync):
            values = _json(values) or {}
            yield (rec, code, message, ";".join(_json(invalid) or []), *(values.get(k) for k in keys))

    response = StreamingHttpResponse(csv_lines(header, rows()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="sync-{sync.pk}-rejects.csv"'
    return response


def _json(value):
    return json.loads(value) if isinstance(value, str | bytes) else value


def _post_only(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    return None


def sync_cancel_view(request, sync_id: int):
    """Stop a pending or active sync (`pipeline.services.sync_cancel`): what it committed stays, its
    unprocessed rows become rejects, it ends `error` with a log naming who cancelled."""
    if (refused := _post_only(request)) is not None:
        return refused
    _require(request, "syncs.change_sync")
    sync = _sync(request, sync_id)
    try:
        sync_cancel(sync_id=sync.pk, by=str(request.user))
    except BulkError as exc:
        messages.error(request, "Not cancelled: " + "; ".join(_failures_text(exc)))
    else:
        messages.success(request, f"Sync {sync.pk} was cancelled.")
    return HttpResponseRedirect(reverse("admin:syncs_sync_change", args=[sync.pk]))


def sync_retry_view(request, sync_id: int):
    """A new sync of the same definition over the rows an errored sync did not process
    (`pipeline.services.sync_retry`)."""
    if (refused := _post_only(request)) is not None:
        return refused
    _require(request, "syncs.change_sync", "syncs.add_sync")
    sync = _sync(request, sync_id)
    try:
        retried = sync_retry(sync_id=sync.pk, user=request.user)
    except BulkError as exc:
        messages.error(request, "Not retried: " + "; ".join(_failures_text(exc)))
        return HttpResponseRedirect(reverse("admin:syncs_sync_change", args=[sync.pk]))
    messages.success(request, f"Sync {retried.pk} retries the rows sync {sync.pk} did not process.")
    return HttpResponseRedirect(reverse("admin:syncs_sync_change", args=[retried.pk]))


# ------------------------------------------------------------------------------------ batch jobs


def batch_file(request, job_id: int, kind: str):
    """A batch job's error or success file, as the API serves it (streamed, neutralised)."""
    _require(request, "batches.view_batchjob")
    if kind not in ("errors", "successes"):
        raise Http404
    job = batch_jobs_for(request.user).filter(pk=job_id).first()
    if job is None:
        raise Http404
    header, rows = batch_result_file(job, successes=kind == "successes")
    response = StreamingHttpResponse(csv_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="batch-{job.uuid}-{kind}.csv"'
    return response


# --------------------------------------------------------------------------------------- imports


def _definitions(request):
    qs = ImportDefinition.objects.filter(is_internal=False, entity__in=[e for e, _ in _entities()])
    qs = qs.select_related("site").order_by("site__name", "name", "id")
    return qs if request.user.is_superuser else qs.for_site(request.user.site_id)


def _entities():
    from doors.admin.forms import IMPORT_ENTITIES

    return IMPORT_ENTITIES


def import_start(request):
    """Step 1: pick a definition (or a new one from the header) and upload the CSV; it is staged
    into an internal draft (streamed, in PostgreSQL) and the dry run follows."""
    _require(request, *IMPORT_PERMISSIONS)
    definitions = _definitions(request)
    pick_site = request.user.is_superuser
    if request.method == "POST":
        form = ImportUploadForm(request.POST, request.FILES, definitions=definitions, pick_site=pick_site)
        if form.is_valid():
            definition = form.cleaned_data["definition"]
            if definition is None:
                _require(request, "bulkapi.add_importdefinition")
            site = definition.site if definition else (form.cleaned_data.get("site") or request.user.site)
            entity = definition.entity if definition else form.cleaned_data["entity"]
            upload = form.cleaned_data["file"]
            try:
                draft = import_draft_create(
                    site=site,
                    user=request.user,
                    entity=entity,
                    keys=[k for k, _ in definition.fields] if definition else None,
                    upload=upload,
                )
            except BulkError as exc:
                for text in _failures_text(exc):
                    form.add_error("file", text)
            else:
                url = reverse("admin:backoffice_import_review", args=[draft.pk])
                return HttpResponseRedirect(url + (f"?definition={definition.pk}" if definition else ""))
    else:
        initial = {}
        wanted = request.GET.get("definition", "")
        if wanted.isdigit() and len(wanted) < 19:
            initial["definition"] = definitions.filter(pk=int(wanted)).first()
        form = ImportUploadForm(initial=initial, definitions=definitions, pick_site=pick_site)
    return TemplateResponse(request, "backoffice/import_start.html", _context(request, "Import a CSV file", form=form))


def import_review(request, draft_id: int):
    """Step 2: the dry run of the first rows (and, for a new definition, its mappings), then
    confirm (the rows go to the definition and its sync starts) or discard."""
    _require(request, *IMPORT_PERMISSIONS)
    draft = import_draft_get(user=request.user, draft_id=draft_id)
    if draft is None:
        messages.warning(request, "That import was confirmed, discarded or has expired.")
        return HttpResponseRedirect(reverse("admin:backoffice_import"))
    data = request.POST if request.method == "POST" else request.GET
    wanted = data.get("definition", "")
    definition = None
    if wanted:
        definition = _definitions(request).filter(pk=int(wanted) if wanted.isdigit() and len(wanted) < 19 else 0)
        definition = definition.filter(site=draft.site, entity=draft.entity).first()
        if definition is None:
            raise Http404
    staged = StagedRow.objects.filter(definition_id=draft.pk).count()
    columns = [k for k, _ in draft.fields]
    mapping = body = None
    errors: list[str] = []
    if definition is None:
        _require(request, "bulkapi.add_importdefinition")
        mapping, body, errors = _new_definition(request, draft, columns, data)
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "confirm" and not errors:
        try:
            return _confirm(request, draft, definition, body)
        except ValidationFailed as exc:  # the new definition is refused: show why, mapping kept
            errors = _failures_text(exc)
    result = None
    if not errors:
        try:
            result = sync_dry_run(
                staged_definition_id=draft.pk,
                definition=definition or _maker(draft, request.user, body),
                user=request.user,
            )
        except ValidationFailed as exc:
            errors = _failures_text(exc)
    context = _context(
        request,
        f"Import {draft.name.split(': ', 1)[-1]}",
        draft=draft,
        definition=definition,
        staged=staged,
        mapping=mapping,
        errors=errors,
        result=result,
        columns=_preview_columns(definition, columns, body),
        dry_run_rows=DRY_RUN_ROWS,
        import_rules=ImportRule.choices,
    )
    return TemplateResponse(request, "backoffice/import_review.html", context)


def _preview_columns(definition, columns, body) -> list[str]:
    if definition is not None:
        return [k for k, _ in definition.fields]
    if body and body.get("fields"):
        return list(body["fields"])
    return columns


def _maker(draft, user, body):
    return lambda: import_definition_create(site=draft.site, user=user, entity=draft.entity, body=body)


class _MappingRow:
    def __init__(self, column: str, field, value: str):
        self.column, self.field, self.value = column, field, value


def _new_definition(request, draft, columns, data):
    """The mapping form of a new definition (suggested on first view) and the wire body it makes."""
    spec = entity_spec(draft.entity)
    choices = [(f.statement, f"{f.name} — {f.statement}") for f in mappable_fields(spec, draft.site)]
    suggested = suggest_mappings(columns, spec, draft.site)
    submitted = request.method == "POST"
    rows = []
    fields = {}
    valid = {c for c, _ in choices}
    for i, column in enumerate(columns):
        value = data.get(f"map-{i}", "") if submitted else suggested[column]
        if value and value not in valid:
            value = ""
        rows.append(_MappingRow(column, mapping_field(choices, suggested[column]), value))
        if value:
            fields[column] = value
    name = data.get("name", "") if submitted else draft.name.split(": ", 1)[-1].rsplit(".", 1)[0][:100]
    identifier = data.get("identifier", "") if submitted else suggest_identifier(suggested, spec)
    import_rule = data.get("import_rule", "") if submitted else ""
    body = {"name": name, "fields": fields, "identifierFieldName": identifier or None}
    if import_rule:
        body["importRule"] = import_rule
    mapping = {
        "rows": rows,
        "choices": choices,
        "name": name,
        "identifier": identifier,
        "import_rule": import_rule,
        "columns": columns,
    }
    errors = []
    if submitted and not fields:
        errors.append("Map at least one column.")
    return mapping, body, errors


def _confirm(request, draft, definition, body):
    try:
        sync = import_draft_confirm(draft=draft, user=request.user, definition=definition, body=body)
    except ValidationFailed:
        raise
    except BulkError as exc:
        messages.error(request, "Not started: " + "; ".join(_failures_text(exc)))
        url = reverse("admin:backoffice_import_review", args=[draft.pk])
        return HttpResponseRedirect(url + (f"?definition={definition.pk}" if definition else ""))
    messages.success(request, f"Sync {sync.pk} started: {sync.total_rows} rows of “{sync.definition.name}”.")
    return HttpResponseRedirect(reverse("admin:syncs_sync_change", args=[sync.pk]))


def import_discard(request, draft_id: int):
    if (refused := _post_only(request)) is not None:
        return refused
    _require(request, *IMPORT_PERMISSIONS)
    draft = import_draft_get(user=request.user, draft_id=draft_id)
    if draft is not None:
        import_draft_discard(draft=draft)
        messages.info(request, "The import was discarded; nothing was written.")
    return HttpResponseRedirect(reverse("admin:backoffice_import"))
