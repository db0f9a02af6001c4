"""What one recipient may carry, however it arrives (a JSON list, CSV text, an uploaded file).

One place for the JSON model (``models.api.RecipientIn``) and the CSV reader
(``domain.csv_import``), so no list can store a recipient item over DynamoDB's 400 KB: at most
50 × (100 + 1,000) characters of variables, 4 UTF-8 bytes each, is about 220 KB.
"""

from __future__ import annotations

# Recipients in one create or preview request, as a JSON list or CSV rows (bigger lists: the
# upload route, which streams a file of millions).
MAX_RECIPIENTS_PER_REQUEST = 10_000

MAX_PHONE_CHARS = 40  # as written, before normalising to E.164
MAX_NAME_CHARS = 200
MAX_VARIABLES = 50
MAX_VARIABLE_NAME_CHARS = 100
MAX_VARIABLE_CHARS = 1000
MAX_TIMEZONE_CHARS = 64  # the longest IANA name has 32
