"""Business rules: no request, no emit, no abort. Each `do_*`/public function owns its transaction."""
