"""What every staff page shares: sign-in, roles, CSRF and the odd-input guard; `pages`
registers the staff pages on the app."""
