"""``batchcalls-admin``: the operator's console for a deployed stack or the offline one.

Accounts, API keys, caller IDs, limits and credits, written to the table through boto3 with the
operator's own AWS credentials (see ``docs/operator.md``).
"""
