def slugify(text):
    """Turn a title into a URL slug.

    Lower-case the text, replace every run of characters that are not ASCII
    letters or digits with a single hyphen, and strip hyphens from both ends.

    >>> slugify("Hello, World!")
    'hello-world'
    """
    raise NotImplementedError
