-- Cliente Uno's database on the old platform (lab fixture): the page that index.php shows.
CREATE TABLE IF NOT EXISTS wp_pages (
  slug VARCHAR(64) NOT NULL PRIMARY KEY,
  title VARCHAR(255) NOT NULL,
  body TEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT IGNORE INTO wp_pages (slug, title, body) VALUES
  ('home', 'Cliente Uno - Talleres Uno', 'Reparamos bicicletas desde 1994. Texto leído de la base de datos cliente1_db.');
