"""The access reviews' pages: a reviewer's items and decisions (`items`), and IAM's campaigns: launch,
progress, reminders, close and the report (`campaigns`)."""
