-- Cliente Tres's Joomla 2.5-like database on the old platform (lab fixture): one article.
CREATE TABLE IF NOT EXISTS jos_content (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  title VARCHAR(255) NOT NULL,
  introtext MEDIUMTEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT IGNORE INTO jos_content (id, title, introtext) VALUES
  (1, 'Bienvenidos', 'Cliente Tres: artículo leído de la base de datos cliente3_j25.');
