"""The 卷宗 (bound case file) of a closed case: cover, index and its documents and scans as one PDF."""
