"""What every staff page shares: sign-in, roles, CSRF, the odd-input guard and URL
parameters; `pages` registers the staff pages on the app."""
