"""Business rules: no request, no emit, no abort.

Transactions are visible (app/database.py): a public function that writes owns exactly
one `write_transaction` (or one `single_statement` that is its own transaction) and
says so in its docstring; helpers documented "in the caller's transaction" never
begin or end one; nothing commits a transaction a caller left open.
"""
