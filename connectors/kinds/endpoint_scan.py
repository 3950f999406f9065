"""The endpoint_scan kind: laptops push what they run (tools/steward-scan), Steward does not pull.

Reports arrive at `POST connectors/{id}/reports/` and are reconciled by connectors.endpoint; a sync
of this kind is refused (there is no source to read), and it never runs on a schedule.
"""

from __future__ import annotations

from connectors.kinds import BaseConnector, ConnectorError, register


@register
class EndpointScan(BaseConnector):
    kind = "endpoint_scan"
    label = "Endpoint scan"
    pushed = True
    settings = {}
    permissions = (
        "None at a source: tools/steward-scan runs on each endpoint and posts its report with a "
        "Steward API token of scope 'report'."
    )

    def discover(self, cursor):
        raise ConnectorError(
            "An endpoint_scan connector is not synced: tools/steward-scan posts each endpoint's report "
            "to its reports URL."
        )
