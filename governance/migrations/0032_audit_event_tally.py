"""PostgreSQL: an exact, transactional count of audit events without counting them (issue 23).

The audit log's unfiltered page shows how many events there are; that was a COUNT(*) over every
event's index entry on each page: 34 ms at 1.2 million events, half of the page. As the identities'
(inventory.0012), every statement that inserts events adds one row holding +n to
`governance_auditevent_tally` in its own transaction (COPY included), so its sum is what COUNT(*)
would say in the same snapshot; the log refuses UPDATE and DELETE (0003), and a TRUNCATE empties the
tally too. Readers compact the rows now and then (`governance.tally`). Other databases: nothing.
"""

from django.db import migrations

from governance.migrations._postgresql import statements, tally

FORWARDS, BACKWARDS = tally("governance_auditevent_tally", "governance_auditevent")
forwards, backwards = statements(FORWARDS, BACKWARDS)


class Migration(migrations.Migration):
    dependencies = [("governance", "0031_identity_served_by_composite_index")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
