"""The screening register (排查) and major-dispute reports (重大纠纷报告): docs/screening.md."""
