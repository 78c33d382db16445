"""The public site: what a prospective patient reads before they are anyone's patient.

Anonymous visitors at ``/`` get the organisation's public pages (what KAP is, the routes
compared, safety, eligibility, sessions, costs and questions, contact) in English or
Spanish; each organisation edits its own sections (Markdown, sanitised, versioned) at
``/admin/public-site/``. No patient data is read or written here."""
