"""KPIs, the monthly report and its charts."""
