"""The case file's completeness check (卷宗完整性): rules in workflows.case_file."""
