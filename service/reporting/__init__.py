"""Reports of a risk of crime (人民调解法 art. 25): who reported what to whom, and who acknowledged it."""
