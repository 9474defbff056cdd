"""Opportunity-side writes: the site's stage list, the REST door and the deal upsert door."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Case, Q, Value, When
from django.db.models.functions import Lower, Now
from django.utils import timezone
from psycopg import sql

from entities.contacts.models import Account
from entities.opportunities.models import Opportunity, OpportunityProject, Owner, Pipeline, Project, Stage, StageStatus
from entities.opportunities.selectors import stage_default
from kernel.db import Value as SqlValue
from kernel.exceptions import Conflict, Failure, ValidationFailed
from kernel.models import Site

DEFAULT_STAGES = (
    ("Prospecting", "0.1", StageStatus.OPEN),
    ("Qualification", "0.2", StageStatus.OPEN),
    ("Needs Analysis", "0.3", StageStatus.OPEN),
    ("Proposal", "0.5", StageStatus.OPEN),
    ("Negotiation", "0.7", StageStatus.OPEN),
    ("Closed Won", "1", StageStatus.WON),
    ("Closed Lost", "0", StageStatus.LOST),
)


# The default list's stage a new site starts with as its default stage (the lowest probability
# open one, as Ruddr picks); the site's admins choose another at will.
DEFAULT_STAGE_NAME = "Prospecting"


def stages_create_defaults(*, site: Site) -> list[Stage]:
    """The usual CRM stage list for a new site; existing names are left as they are. A site without
    a default stage gets DEFAULT_STAGE_NAME as its default."""
    stages = [
        Stage(site=site, name=name, probability=Decimal(p), status=status, sort_order=i * 10)
        for i, (name, p, status) in enumerate(DEFAULT_STAGES, start=1)
    ]
    created = Stage.objects.bulk_create(stages, ignore_conflicts=True)
    if site.default_stage_id is None:
        default = Stage.objects.for_site(site).filter(name__iexact=DEFAULT_STAGE_NAME).first()
        if default is not None:
            Site.objects.filter(pk=site.pk, default_stage__isnull=True).update(default_stage=default)
            site.refresh_from_db(fields=["default_stage"])
    return created


# --- the site's stage list over REST ----------------------------------------------------------


def _stage_name_taken(exc: IntegrityError) -> ValidationFailed | None:
    text = str(exc)
    if "stage_site_name_ci_unique" in text:
        return ValidationFailed([Failure(field="name", constraint="A stage with this name already exists.")])
    if "stage_site_external_id_unique" in text:
        return ValidationFailed(
            [Failure(field="externalId", constraint="A stage with this externalId already exists.")]
        )
    return None


def _site_locked(site: Site) -> Site:
    """The site row, locked for this transaction: default-stage changes and stage deletes queue."""
    return Site.objects.select_for_update(no_key=True).get(pk=site.pk)


def stage_create(*, site: Site, data: dict) -> Stage:
    """A stage of the site (at the end of the list unless `sort_order` is given); `is_default`
    makes it the site's default stage."""
    data = dict(data)
    is_default = data.pop("is_default", False)
    try:
        with transaction.atomic(durable=True):
            if "sort_order" not in data:
                last = Stage.objects.for_site(site).order_by("-sort_order").values_list("sort_order", flat=True)
                data["sort_order"] = (last.first() or 0) + 10
            stage = Stage.objects.create(site=site, **data)
            if is_default:
                _site_locked(site)
                Site.objects.filter(pk=site.pk).update(default_stage=stage)
    except IntegrityError as exc:
        raise (_stage_name_taken(exc) or exc) from None
    site.refresh_from_db(fields=["default_stage"])
    return stage


def stage_update(*, stage: Stage, data: dict) -> Stage:
    """A partial update. `is_default` true makes it the site's default stage; false is refused on
    the default stage (choose another default instead: a site always says which one it is)."""
    data = dict(data)
    is_default = data.pop("is_default", None)
    site = stage.site
    try:
        with transaction.atomic(durable=True):
            locked = _site_locked(site)
            if is_default is False and locked.default_stage_id == stage.pk:
                raise ValidationFailed(
                    [
                        Failure(
                            field="isDefault", constraint="To change the default stage, set isDefault on another stage."
                        )
                    ]
                )
            for key, value in data.items():
                setattr(stage, key, value)
            if data:
                stage.save(update_fields=list(data))
            if is_default:
                Site.objects.filter(pk=site.pk).update(default_stage=stage)
    except IntegrityError as exc:
        raise (_stage_name_taken(exc) or exc) from None
    return stage


def stage_delete(*, stage: Stage) -> None:
    """Refused (409) for the site's default stage and for a stage opportunities are in."""
    from django.db.models import ProtectedError

    with transaction.atomic(durable=True):
        if _site_locked(stage.site).default_stage_id == stage.pk:
            raise Conflict(
                [
                    Failure(
                        field="id", value=stage.pk, constraint="It is the site's default stage; choose another first."
                    )
                ]
            )
        try:
            with transaction.atomic():
                stage.delete()
        except ProtectedError:
            raise Conflict(
                [Failure(field="id", value=stage.pk, constraint="Stage is used by opportunities.")]
            ) from None


# --- the opportunity REST door --------------------------------------------------------------

NO_DEFAULT_STAGE = (
    "Required: the site has no default stage and no active open stage with a probability"
    " (set isDefault or a probability on one of /api/v1/stages)."
)


def _external_id_taken(exc: IntegrityError) -> bool:
    return "opportunity_site_external_id_unique" in str(exc)


def _external_id_conflict() -> ValidationFailed:
    return ValidationFailed(
        [Failure(field="externalId", constraint="An opportunity with this externalId already exists in this site.")]
    )


def opportunity_create(*, site: Site, data: dict) -> Opportunity:
    """One opportunity from the REST door. Without an `external_id` it gets `rest-<uuid>`; the
    stage defaults to `stage_default`, the currency to the site's, the open date to today (UTC)."""
    data = dict(data)
    tags = data.pop("tags", None)
    projects = data.pop("projects", None)
    stage = data.pop("stage", None) or stage_default(site=site)
    if stage is None:
        raise ValidationFailed([Failure(field="opportunityStageId", constraint=NO_DEFAULT_STAGE)])
    uid = uuid.uuid4()
    data.setdefault("external_id", f"rest-{uid}")
    data["currency"] = data.get("currency") or site.default_currency
    data.setdefault("open_date", timezone.now().date())
    try:
        with transaction.atomic(durable=True):
            opp = Opportunity.objects.create(site=site, uuid=uid, stage=stage, **data)
            if tags:
                opp.tags.set(tags)
            if projects:
                _projects_set(opp, projects)
    except IntegrityError as exc:
        if _external_id_taken(exc):
            raise _external_id_conflict() from None
        raise
    return opp


def opportunity_update(*, opportunity: Opportunity, data: dict) -> Opportunity:
    """A partial update: only the given fields change; `updated_at` moves when anything was given."""
    data = dict(data)
    tags = data.pop("tags", None)
    projects = data.pop("projects", None)
    if not data and tags is None and projects is None:
        return opportunity
    try:
        with transaction.atomic(durable=True):
            Opportunity.objects.filter(pk=opportunity.pk).update(**data, updated_at=Now())
            if tags is not None:
                opportunity.tags.set(tags)
            if projects is not None:
                _projects_set(opportunity, projects)
    except IntegrityError as exc:
        if _external_id_taken(exc):
            raise _external_id_conflict() from None
        raise
    return opportunity


def _projects_set(opportunity: Opportunity, projects: list[tuple[Project, Decimal | None]]) -> None:
    """The opportunity's projects become exactly `projects` ((project, amount) pairs, each project
    once): one delete and one upsert, inside the caller's transaction."""
    keep = [project.pk for project, _ in projects]
    OpportunityProject.objects.filter(opportunity=opportunity).exclude(project__in=keep).delete()
    OpportunityProject.objects.bulk_create(
        [OpportunityProject(opportunity=opportunity, project=project, amount=amount) for project, amount in projects],
        update_conflicts=True,
        unique_fields=["opportunity", "project"],
        update_fields=["amount"],
    )


def opportunity_delete(*, opportunity: Opportunity) -> None:
    with transaction.atomic(durable=True):
        opportunity.delete()


# --- the deal upsert door -------------------------------------------------------------------

# New stages made for a deal's unknown stageId go after the site's own list.
NEW_STAGE_SORT_ORDER = 1000

# Columns a deal writes besides external_id, with their SQL types. `name` is required, so always
# written; every other column is written only when the deal gave it ("given"), so a partial deal
# never clears what an earlier one (or another door) set.
_DEAL_COLUMNS = (
    ("name", "text"),
    ("amount", "numeric"),
    ("stage_id", "bigint"),
    ("open_date", "date"),
    ("close_date", "date"),
    ("owner_name", "text"),
    ("owner_id", "bigint"),
    ("currency", "text"),
    ("company_id", "bigint"),
    ("account_name", "text"),
)


def _deal_upsert_sql() -> sql.Composed:
    """One INSERT .. ON CONFLICT for the batch. `v` holds the rows and, per row, the names of the
    columns it gave; the DO UPDATE keeps a column the row did not give, and skips rows where
    nothing would change (so repeating a request changes nothing, not even `updated_at`)."""
    cols = [c for c, _ in _DEAL_COLUMNS]
    record = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t))
        for c, t in (("external_id", "text"), *_DEAL_COLUMNS, ("given", "text[]"))
    )

    def new(c: str) -> sql.Composable:
        if c == "name":
            return sql.SQL("EXCLUDED.name")
        return sql.SQL("CASE WHEN {lit} = ANY(v.given) THEN EXCLUDED.{c} ELSE o.{c} END").format(
            lit=SqlValue(c), c=sql.Identifier(c)
        )

    def same(c: str) -> sql.Composable:
        if c == "name":
            return sql.SQL("o.name = EXCLUDED.name")
        return sql.SQL("({lit} <> ALL(v.given) OR o.{c} IS NOT DISTINCT FROM EXCLUDED.{c})").format(
            lit=SqlValue(c), c=sql.Identifier(c)
        )

    return sql.SQL(
        """
        WITH v AS (SELECT * FROM jsonb_to_recordset(%(rows)s::jsonb) AS v({record}))
        INSERT INTO {table} AS o (site_id, external_id, {cols})
        SELECT %(site)s, v.external_id, {vcols} FROM v ORDER BY v.external_id COLLATE "C"
        ON CONFLICT (site_id, external_id) DO UPDATE SET ({cols}, updated_at) = (
            SELECT {new}, now() FROM v WHERE v.external_id = EXCLUDED.external_id
        )
        WHERE NOT EXISTS (SELECT 1 FROM v WHERE v.external_id = EXCLUDED.external_id AND {same})
        RETURNING o.external_id, o.uuid, (o.xmax = 0) AS created
        """
    ).format(
        record=record,
        table=sql.Identifier(Opportunity._meta.db_table),
        cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
        vcols=sql.SQL(", ").join(sql.SQL("v.{}").format(sql.Identifier(c)) for c in cols),
        new=sql.SQL(", ").join(map(new, cols)),
        same=sql.SQL(" AND ").join(map(same, cols)),
    )


DEAL_UPSERT_SQL = _deal_upsert_sql()


@dataclass
class DealOutcome:
    """What became of one deal: `action` created/updated/unchanged and the uuid, or failures."""

    index: int
    external_id: str
    action: str | None = None
    uuid: uuid.UUID | None = None
    failures: list[Failure] = field(default_factory=list)


def _lock_keys(keys: list[str]) -> None:
    """Transaction-scoped advisory locks, taken in one order, for records without a unique key."""
    if keys:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(%s::text[]) AS k ORDER BY k",
                [sorted(set(keys))],
            )


def _pipeline_key(deal: dict) -> str | None:
    """Pipelines are keyed by the CRM's id; a label alone stands in for the id."""
    return deal.get("pipeline_external_id") or deal.get("pipeline_label")


def _pipelines_resolve(site: Site, deals: list[tuple[int, dict]]) -> dict[str, int]:
    wanted: dict[str, str] = {}
    for _, d in deals:
        key = _pipeline_key(d)
        if key:
            wanted.setdefault(key, d.get("pipeline_label") or key)
    if not wanted:
        return {}
    qs = Pipeline.objects.for_site(site).filter(external_id__in=wanted)
    found = dict(qs.values_list("external_id", "id"))
    missing = sorted(k for k in wanted if k not in found)
    if missing:
        Pipeline.objects.bulk_create(
            [Pipeline(site=site, external_id=k, label=wanted[k][:255]) for k in missing], ignore_conflicts=True
        )
        found = dict(qs.values_list("external_id", "id"))
    return found


def _stages_resolve(
    site: Site, deals: list[tuple[int, dict]], pipelines: dict[str, int]
) -> tuple[dict[tuple[str, str], int], dict[int, Failure]]:
    """Stage ids keyed ("id", stageId) or ("name", lower(stageLabel)); unknown ones are created.

    A stageId that is new to us adopts the site's stage of the same name when that stage has no
    CRM id yet (so `Proposal` from the CRM is our `Proposal`); otherwise a stage is created, open,
    at the end of the list and with no probability until someone sets one (we know nothing about
    it, and so it never becomes the lowest-probability stage `stage_default` picks)."""
    by_ext: dict[str, tuple[str, int | None]] = {}
    by_name: dict[str, tuple[str, int | None]] = {}
    for _, d in deals:
        ext, label = d.get("stage_external_id"), (d.get("stage_label") or "").strip()
        pipeline_id = pipelines.get(_pipeline_key(d) or "")
        if ext:
            by_ext.setdefault(ext, ((label or ext)[:100], pipeline_id))
        elif label:
            by_name.setdefault(label.lower(), (label, pipeline_id))
    stages = Stage.objects.for_site(site)
    out: dict[tuple[str, str], int] = {}
    failures: dict[int, Failure] = {}
    if not by_ext and not by_name:
        return out, failures
    if by_ext:
        ext_qs = stages.filter(external_id__in=by_ext)
        found = dict(ext_qs.values_list("external_id", "id"))
        missing = {e: v for e, v in by_ext.items() if e not in found}
        if missing:
            names = {}
            for e, (label, _) in sorted(missing.items()):
                names.setdefault(label.lower(), e)
            adopt = dict(
                stages.filter(external_id__isnull=True)
                .annotate(lname=Lower("name"))
                .filter(lname__in=names)
                .values_list("id", "lname")
            )
            if adopt:
                stages.filter(pk__in=adopt, external_id__isnull=True).update(
                    external_id=Case(*[When(pk=pk, then=Value(names[lname])) for pk, lname in adopt.items()])
                )
            adopted = {names[lname] for lname in adopt.values()}
            Stage.objects.bulk_create(
                [
                    Stage(
                        site=site,
                        name=label,
                        external_id=e,
                        pipeline_id=pid,
                        sort_order=NEW_STAGE_SORT_ORDER,
                    )
                    for e, (label, pid) in sorted(missing.items())
                    if e not in adopted
                ],
                ignore_conflicts=True,
            )
            found = dict(ext_qs.values_list("external_id", "id"))
        out.update({("id", e): pk for e, pk in found.items()})
    if by_name:
        name_qs = stages.annotate(lname=Lower("name")).filter(lname__in=by_name)
        found = dict(name_qs.values_list("lname", "id"))
        missing = sorted(n for n in by_name if n not in found)
        if missing:
            Stage.objects.bulk_create(
                [
                    Stage(
                        site=site,
                        name=by_name[n][0],
                        pipeline_id=by_name[n][1],
                        sort_order=NEW_STAGE_SORT_ORDER,
                    )
                    for n in missing
                ],
                ignore_conflicts=True,
            )
            found = dict(name_qs.values_list("lname", "id"))
        out.update({("name", n): pk for n, pk in found.items()})

    for index, d in deals:
        key = _stage_key(d)
        if key is not None and key not in out:
            label = by_ext.get(d.get("stage_external_id") or "", ("",))[0]
            failures[index] = Failure(
                field="stageId",
                constraint=f"Cannot create stage {d.get('stage_external_id')!r}: "
                f"another stage of this site is already named {label!r}.",
            )
    return out, failures


def _stage_key(deal: dict) -> tuple[str, str] | None:
    if deal.get("stage_external_id"):
        return ("id", deal["stage_external_id"])
    label = (deal.get("stage_label") or "").strip()
    return ("name", label.lower()) if label else None


def _owner_key(deal: dict) -> tuple[str, str] | None:
    if deal.get("owner_external_id"):
        return ("id", deal["owner_external_id"])
    if deal.get("owner_email"):
        return ("email", deal["owner_email"].lower())
    return None


def _owners_resolve(site: Site, deals: list[tuple[int, dict]]) -> dict[tuple[str, str], int]:
    """Owners keyed by ownerId, else by ownerEmail; created when unknown, and an existing one's
    name and email follow what the deal says."""
    details: dict[tuple[str, str], dict] = {}
    for _, d in deals:
        key = _owner_key(d)
        if key is None:
            continue
        given = details.setdefault(key, {})
        if d.get("owner_name"):
            given["name"] = d["owner_name"]
        if d.get("owner_email"):
            given["email"] = d["owner_email"]
    if not details:
        return {}
    owners = Owner.objects.for_site(site)
    out: dict[tuple[str, str], Owner] = {}
    ext_ids = [k[1] for k in details if k[0] == "id"]
    emails = [k[1] for k in details if k[0] == "email"]
    if ext_ids:
        found = {o.external_id: o for o in owners.filter(external_id__in=ext_ids)}
        missing = sorted(e for e in ext_ids if e not in found)
        if missing:
            new = [Owner(site=site, external_id=e, **details[("id", e)]) for e in missing]
            Owner.objects.bulk_create(new, ignore_conflicts=True)
            found = {o.external_id: o for o in owners.filter(external_id__in=ext_ids)}
        out.update({("id", e): o for e, o in found.items()})
    if emails:
        _lock_keys([f"owner:{site.pk}:{e}" for e in emails])
        email_qs = owners.annotate(lemail=Lower("email")).filter(lemail__in=emails).order_by("-id")
        found = {o.lemail: o for o in email_qs}  # the oldest wins
        missing = sorted(e for e in emails if e not in found)
        if missing:
            Owner.objects.bulk_create([Owner(site=site, **details[("email", e)]) for e in missing])
            found = {o.lemail: o for o in email_qs.all()}
        out.update({("email", e): o for e, o in found.items()})
    changed = []
    for key, owner in sorted(out.items(), key=lambda kv: kv[1].pk):
        given = details[key]
        if any(getattr(owner, f) != v for f, v in given.items()):
            for f, v in given.items():
                setattr(owner, f, v)
            changed.append(owner)
    if changed:
        Owner.objects.bulk_update(changed, ["name", "email"])
    return {key: owner.pk for key, owner in out.items()}


def _accounts_match(site: Site, deals: list[tuple[int, dict]]) -> dict[int, tuple[int | None, str | None]]:
    """index -> (account id, account name) for deals that gave `associatedAccounts`: the first
    entry whose externalId matches an account, else the first whose (normalised) domain does;
    (None, the first entry's name) when nothing matches. One query for the whole batch."""
    given = [(i, d["accounts"]) for i, d in deals if d.get("accounts") is not None]
    if not given:
        return {}
    ext_ids = {a["external_id"] for _, accs in given for a in accs if a.get("external_id")}
    domains = {a["domain"] for _, accs in given for a in accs if a.get("domain")}
    by_ext: dict[str, tuple[int, str]] = {}
    by_domain: dict[str, tuple[int, str]] = {}
    if ext_ids or domains:
        rows = (
            Account.objects.for_site(site)
            .filter(Q(external_id__in=ext_ids) | Q(domain__in=domains))
            .order_by("id")
            .values_list("id", "external_id", "domain", "name")
        )
        for pk, ext, domain, name in rows:
            if ext in ext_ids:
                by_ext.setdefault(ext, (pk, name))
            if domain in domains:
                by_domain.setdefault(domain, (pk, name))
    out = {}
    for index, accs in given:
        match = next((by_ext[a["external_id"]] for a in accs if a.get("external_id") in by_ext), None)
        match = match or next((by_domain[a["domain"]] for a in accs if a.get("domain") in by_domain), None)
        fallback = next((a["name"] for a in accs if a.get("name")), None)
        out[index] = match if match else (None, fallback)
    return out


def deals_upsert(
    *, site: Site, deals: list[tuple[int, dict]], before_commit: Callable[[list[DealOutcome]], None] | None = None
) -> list[DealOutcome]:
    """Create or update each deal by its external id within the site, in one transaction and one
    INSERT .. ON CONFLICT for the batch (plus a few set-based lookups for stages, pipelines,
    owners and accounts). `deals` are (index, validated data); a later deal repeating an earlier
    one's externalDealId fails. Outcomes come back in input order; `before_commit(outcomes)` runs
    inside the transaction that writes them (the request's idempotency record).

    A deadlock with another writer (a sync, another upsert touching the same deals in another
    order) is retried here, whole, so a client never sees one."""
    outcomes = {i: DealOutcome(index=i, external_id=d["external_id"]) for i, d in deals}
    first: dict[str, int] = {}
    valid = []
    for index, d in deals:
        ext = d["external_id"]
        if ext in first:
            outcomes[index].failures.append(
                Failure(field="externalDealId", constraint=f"Duplicate of the deal at index {first[ext]}.")
            )
            continue
        first[ext] = index
        valid.append((index, d))
    if not valid:
        return list(outcomes.values())
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        fresh = {i: DealOutcome(index=i, external_id=d["external_id"]) for i, d in valid}
        try:
            with transaction.atomic(durable=True):
                _deals_write(site, valid, fresh)
                result = list({**outcomes, **fresh}.values())
                result.sort(key=lambda o: o.index)
                if before_commit is not None:
                    before_commit(result)
            return result
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) not in RETRIED_SQLSTATES or attempt == DEADLOCK_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


# Deadlock, serialization failure: the transaction was rolled back whole and may simply run again.
RETRIED_SQLSTATES = ("40P01", "40001")
DEADLOCK_ATTEMPTS = 3


def _deals_write(site: Site, valid: list[tuple[int, dict]], outcomes: dict[int, DealOutcome]) -> None:
    default_stage = stage_default(site=site)
    kept_stage: dict[str, int] = {}  # without a default stage: deals naming no stage keep theirs
    if default_stage is None and any(_stage_key(d) is None for _, d in valid):
        lacking = {d["external_id"]: i for i, d in valid if _stage_key(d) is None}
        found = Opportunity.objects.for_site(site).filter(external_id__in=lacking)
        kept_stage = dict(found.values_list("external_id", "stage_id"))
        for ext, index in lacking.items():
            if ext not in kept_stage:
                outcomes[index].failures.append(Failure(field="stageId", constraint=NO_DEFAULT_STAGE))
        valid = [(i, d) for i, d in valid if not outcomes[i].failures]
    pipelines = _pipelines_resolve(site, valid)
    stages, stage_failures = _stages_resolve(site, valid, pipelines)
    for index, failure in stage_failures.items():
        outcomes[index].failures.append(failure)
    valid = [(i, d) for i, d in valid if i not in stage_failures]
    owners = _owners_resolve(site, valid)
    accounts = _accounts_match(site, valid)
    rows = []
    for index, d in valid:
        given = [c for c in ("amount", "open_date", "close_date", "owner_name") if c in d]
        row = {"external_id": d["external_id"], "name": d["name"]}
        row.update({c: d[c] for c in given})
        stage_key = _stage_key(d)
        if stage_key:
            row["stage_id"] = stages[stage_key]
        else:
            row["stage_id"] = default_stage.pk if default_stage else kept_stage[d["external_id"]]
        if stage_key:
            given.append("stage_id")
        owner_key = _owner_key(d)
        if owner_key:
            row["owner_id"] = owners[owner_key]
            given.append("owner_id")
        row["currency"] = d.get("currency") or site.default_currency
        if d.get("currency"):
            given.append("currency")
        if index in accounts:
            row["company_id"], row["account_name"] = accounts[index]
            given += ["company_id", "account_name"]
        row["given"] = given
        rows.append(row)
    with connection.cursor() as cur:
        cur.execute(DEAL_UPSERT_SQL, {"rows": json.dumps(rows, default=str), "site": site.pk})
        written = {ext: (uid, created) for ext, uid, created in cur.fetchall()}
    unchanged = [r["external_id"] for r in rows if r["external_id"] not in written]
    if unchanged:
        same = Opportunity.objects.for_site(site).filter(external_id__in=unchanged)
        written.update({ext: (uid, None) for ext, uid in same.values_list("external_id", "uuid")})
    for index, d in valid:
        uid, created = written[d["external_id"]]
        outcomes[index].uuid = uid
        outcomes[index].action = "unchanged" if created is None else ("created" if created else "updated")
