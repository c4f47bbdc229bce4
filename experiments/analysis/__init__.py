"""The study's results: design and folders, collected runs, statistics, the qualitative example
(``aggregate``), and the tables and figures rendered from them (``report``)."""
