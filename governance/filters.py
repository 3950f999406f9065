import django_filters
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from governance import audit
from governance.ids import MAX_ID
from governance.models import AuditEvent
from governance.people.models import Team


class AuditEventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor", label="Actor")
    verb = django_filters.CharFilter(field_name="verb", lookup_expr="startswith", label="Verb")
    subject = django_filters.CharFilter(
        method="filter_subject",
        label="Subject",
        help_text="type:id (e.g. inventory.identity:12) or text in its label",
    )
    since = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte", label="Since")
    until = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt", label="Until")

    class Meta:
        model = AuditEvent
        fields = ["actor", "verb", "subject", "since", "until"]

    def filter_subject(self, queryset, name, value):
        if ":" in value:
            subject_type, _, subject_id = value.partition(":")
            return queryset.filter(subject_type=subject_type, subject_id=subject_id)
        return queryset.filter(Q(subject_label__icontains=value) | Q(subject_id=value))


# Bounding id filters turns a value out of range into a 400 with a field message instead of an
# overflow in the database driver (found by the API fuzzer); the bound lives in governance.ids.
def id_filter(field_name: str, **kwargs) -> django_filters.NumberFilter:
    return django_filters.NumberFilter(field_name=field_name, min_value=1, max_value=MAX_ID, **kwargs)


def identity_team_filter() -> django_filters.ModelChoiceFilter:
    """Rows whose identity belongs to a team, chosen by its slug (`?team=payments`), listed by name."""
    return django_filters.ModelChoiceFilter(
        field_name="identity__team",
        to_field_name="slug",
        queryset=Team.objects.order_by("name"),
        label=_("Team"),
        empty_label=_("Any team"),
    )


class NewestFirstByIndex:
    """Pages of a filtered audit log, newest first, read in two steps: the page's sequence numbers
    from the (actor, verb, seq) index alone, then those rows.

    PostgreSQL would otherwise walk the sequence index backwards and filter, which is fast only when
    matching events are spread evenly; when an actor's events sit far back behind a busy job's
    (they do, the sweep writes most of the log), it reads hundreds of thousands of rows for one page.
    Ordering by `seq + 0` keeps the planner off that path; the cost is bounded by the matching index
    entries (index-only), not by where they sit in the log."""

    def __init__(self, queryset):
        self.queryset = queryset

    def count(self) -> int:
        return self.queryset.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index : index + 1][0]
        seqs = self.queryset.order_by((F("seq") + 0).desc()).values("seq")[index]
        return list(AuditEvent.objects.filter(seq__in=seqs).order_by("-seq"))


class _LogLength:
    """The whole log's count for a paginator: `audit.length()`, the chain head's number."""

    def count(self) -> int:
        return audit.length()


def audit_total(params) -> _LogLength | None:
    """What counts the audit list: the chain's length when no filter is named, else None (the
    paginator counts the filtered rows)."""
    return None if any(name in params for name in AuditEventFilter.base_filters) else _LogLength()


def audit_page_source(queryset, params):
    """What to paginate: the two-step reader when an actor is named (the index leads with it)."""
    return NewestFirstByIndex(queryset) if (params.get("actor") or "").strip() else queryset
