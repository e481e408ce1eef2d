"""ivrflow studio: a local web page that draws a flow as it is edited, walks
simulated calls through it and paints what its tests cover.

A thin layer over the compiler (check, graph, render, machine, testing): the
compiler never imports it. `app.create_app` builds the Starlette app; the
`ivrflow studio` command serves it on loopback.
"""
