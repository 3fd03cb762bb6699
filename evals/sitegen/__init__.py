"""The leaderboard site: published tables -> Markdown pages -> static HTML.

    generate.generate_site(uri, pages_dir, version)   tables -> pages (no mkdocs here)
    builder.build(pages_dir, site_dir)                 pages -> HTML (the only mkdocs code)
    server.serve(site_dir, port)                       the built site on 127.0.0.1

No Prefect here: ``tasks.site`` wraps these steps and ``flows.site`` runs them.
"""
