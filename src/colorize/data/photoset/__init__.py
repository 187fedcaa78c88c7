"""The photo set of ``make photos`` (:mod:`colorize.photos`): real colour photos from Debian packages, filtered, split
into train and val by a hash of each photo's name, and described in a manifest.

:mod:`~colorize.data.photoset.debian` reads packages, :mod:`~colorize.data.photoset.packages` says which and where
their photos are, :mod:`~colorize.data.photoset.filters` decides what is kept, :mod:`~colorize.data.photoset.build`
writes the set.
"""
