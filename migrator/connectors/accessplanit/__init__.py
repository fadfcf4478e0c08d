"""accessplanit: API v2 (``v2``: OData modules, ``$upsert``) and API v1 (``v1``: feeds), both declared in
``spec``; the registry serves each from its own module. Shared by both: ``auth`` (bearer token or API key),
``modelstate`` (the 400 that rejects one record); v2's filter expressions are in ``odata``, and a read split
into parts by them in ``split``."""
