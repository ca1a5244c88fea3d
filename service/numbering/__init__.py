"""Document and case-file numbers per unit, kind and Asia/Shanghai year, without gaps or reuse."""
