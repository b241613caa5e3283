"""Pages for engineers and auditors, one module per stage of the loop. Views fetch the project
through selectors.access_project (another team's project is a 404, a role too weak for the
action a 403), call a selector or a service, and render; the work is in tandem.core. Annotators
have no pages here: they work in Argilla."""
