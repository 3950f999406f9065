"""List pages as people shape them (issue 22 item 6): which columns a list shows and the filters a
person saved under a name, per user and per list. Each list page registers a `ListSpec`; the
preference is one row per user and list, read in one query."""
