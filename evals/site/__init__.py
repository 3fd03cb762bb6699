"""The leaderboard site: published tables -> Markdown pages -> static HTML, with the commands that reproduce each score.

Public:

    generate.generate_site(uri, pages_dir, version)   tables -> pages (no mkdocs here)
    builder.build(pages_dir, site_dir)                 pages -> HTML (the only mkdocs code)
    server.serve(site_dir, port)                       the built site on 127.0.0.1
    reproduce.reproduce(score)                         the lm_eval and slmbench commands behind a score
    leaderboard_changes.leaderboard_change(...)        what one leaderboard version changed

No Prefect here: ``tasks.site`` wraps these steps and ``flows.site`` runs them.
"""
