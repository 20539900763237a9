"""The log's storage: records checked and canonicalised, appended in groups under the head's lock, read back.

Entry point: group_commit.py (GroupCommitWriter.append); store.py holds the SQL, tables.py the schema.
"""
